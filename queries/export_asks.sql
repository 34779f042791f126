-- Every tagged ask-recipient pair with its sequence outcome: the table for notebooks and spreadsheets (account: the IMAP account or local source it came from; month: of the send).
select
    t.message_id, t.recipient, t.sender, t.sent_at, strftime(t.sent_at, '%Y-%m') as month, t.subject,
    coalesce((select any_value(l.source order by l.kind = 'imap' desc, l.source)
              from locations l join mails m on m.raw_sha256 = l.raw_sha256
              where m.message_id = t.message_id), 'unknown') as account,
    t.is_ask, t.ask_kind, t.ask_sentence, t.ask_size, t.audience, t.audience_score, t.focus, t.other_share,
    t.warmth, t.days_since_contact, t.gave_first, t.history_incomplete, t.mail_key, t.campaign,
    t.open_questions, t.closed_questions, t.chunked, t.opt_out, t.commitment_stated, t.offers_first, t.gratitude,
    t.word_count, t.question_count, t.subject_words, t.reading_grade, t.sentiment, t.personalization, t.co_recipients,
    k.sequence_message_id, k.touch,
    o.outcome, o.touches, o.last_touch_at, o.window_closes_at, o.answered_at, o.hours_to_answer, o.matched_by, o.answer_kind, o.answer_by_colleague,
    o.auto_return_date, o.bounce_status, t.ruleset_digest
from tags t
left join touches k using (message_id, recipient)
left join outcomes o on o.message_id = k.sequence_message_id and o.recipient = t.recipient
order by t.sent_at, t.message_id, t.recipient
