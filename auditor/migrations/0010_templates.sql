-- Template clusters of the asks (tag.audience.template_clusters): recomputed only when the messages, the identity
-- or the template rules change, so a re-tag after a word-list change does not cluster again. Derived, so no key
-- (see 0009); message_id is unique by construction.
CREATE TABLE templates (message_id VARCHAR NOT NULL, template_recipients INTEGER NOT NULL, template_id BIGINT,
    personalization DOUBLE NOT NULL);
