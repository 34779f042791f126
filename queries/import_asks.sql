-- Rebuild tags, touches and outcomes from exported asks (the view `exported`: the Parquet files of `auditor export`
-- from one or many mailboxes), for an organisation's report. An ask seen in two mailboxes (a teammate in Cc)
-- counts once.
create temp table imported as
select * exclude (rn) from (
    select *, row_number() over (partition by message_id, recipient order by account, sent_at) as rn
    from exported
) where rn = 1;

insert into tags (message_id, recipient, mail_key, sender, sent_at, subject, is_ask, ask_kind, ask_sentence, ask_size,
                  audience, audience_score, focus, other_share, warmth, days_since_contact, gave_first,
                  history_incomplete, ruleset_digest, campaign, open_questions, closed_questions, chunked, opt_out,
                  commitment_stated, offers_first, gratitude, word_count, question_count, subject_words,
                  reading_grade, sentiment, personalization, co_recipients)
select message_id, recipient, mail_key, sender, sent_at, subject, is_ask, ask_kind, ask_sentence, ask_size,
       audience, audience_score, focus, other_share, warmth, days_since_contact, gave_first,
       history_incomplete, ruleset_digest, campaign, open_questions, closed_questions, chunked, opt_out,
       commitment_stated, offers_first, gratitude, word_count, question_count, subject_words,
       reading_grade, sentiment, personalization, co_recipients
from imported;

insert into touches (message_id, recipient, sequence_message_id, touch)
select message_id, recipient, sequence_message_id, touch from imported where sequence_message_id is not null;

insert into outcomes (message_id, recipient, outcome, touches, first_sent_at, last_touch_at, window_closes_at,
                      answered_at, matched_by, hours_to_answer, answer_kind, answer_by_colleague, auto_return_date,
                      bounce_status, ruleset_digest)
select message_id, recipient, outcome, touches, sent_at, last_touch_at, window_closes_at,
       answered_at, matched_by, hours_to_answer, answer_kind, answer_by_colleague, auto_return_date,
       bounce_status, ruleset_digest
from imported where sequence_message_id = message_id and outcome is not null;
