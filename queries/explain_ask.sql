-- One ask's tags per recipient with their scores and reasons, and its outcome per recipient: what `auditor explain` prints.
select t.message_id, t.recipient, t.sender, t.sent_at, t.subject, t.ask_kind, t.ask_sentence, t.ask_size,
       t.audience, t.audience_score, t.audience_reasons, t.focus, t.other_share, t.focus_reasons,
       t.warmth, t.warmth_reasons, t.days_since_contact, t.gave_first, t.history_incomplete, t.ruleset_digest,
       t.campaign, t.open_questions, t.closed_questions, t.chunked, t.opt_out, t.commitment_stated, t.offers_first,
       t.gratitude, t.craft_reasons, t.word_count, t.question_count, t.subject_words, t.reading_grade, t.sentiment,
       t.personalization, t.co_recipients,
       k.sequence_message_id, k.touch, o.outcome, o.answer_kind, o.answer_phrase, o.matched_by
from tags t
left join touches k using (message_id, recipient)
left join outcomes o on o.message_id = k.sequence_message_id and o.recipient = t.recipient
where t.message_id = $message_id or t.message_id = '<' || $message_id || '>'
order by t.recipient
