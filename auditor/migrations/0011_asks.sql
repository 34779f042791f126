-- The asks the tag stage found (the mails from the team to someone outside it), with what labelling reads of them
-- besides their text: the recipients outside the team, how many shared the To/Cc, and the headers that mark bulk
-- mail. Rebuilt with `mails` and kept while the messages, the identity and the match rules stay the same, so a
-- re-tag after a word-list change labels these rows again instead of reading every message back. Derived, so no
-- key (see 0009); message_id is unique by construction.
CREATE TABLE asks (message_id VARCHAR NOT NULL, mail_key VARCHAR NOT NULL, raw_sha256 VARCHAR NOT NULL,
    from_addr VARCHAR, sent_at TIMESTAMPTZ, subject VARCHAR,
    recipients_ext STRUCT(addr VARCHAR, name VARCHAR, field VARCHAR)[], co_recipients INTEGER, undisclosed BOOLEAN,
    h_list_unsubscribe VARCHAR, h_list_id VARCHAR, h_precedence VARCHAR, h_mailer VARCHAR, h_merge_header BOOLEAN);
