-- The tags of one partition of this tag run (_tag_warmth, the warmth of its (ask, recipient) pairs): one row per pair, the ask's labels beside the recipient's warmth.
insert into tags (message_id, recipient, mail_key, sender, sent_at, subject, is_ask, ask_kind, ask_sentence, ask_size,
                  audience, audience_score, audience_reasons, focus, other_share, focus_reasons,
                  warmth, warmth_reasons, days_since_contact, gave_first, history_incomplete, template_id,
                  open_questions, closed_questions, chunked, opt_out, commitment_stated, offers_first, gratitude,
                  craft_reasons, word_count, question_count, subject_words, reading_grade, sentiment,
                  personalization, co_recipients, ruleset_digest, run_id, tagged_at)
select w.message_id, w.recipient, l.mail_key, l.from_addr, w.sent_at, l.subject, true, l.ask_kind, l.ask_sentence,
       l.ask_size, l.audience, l.audience_score, l.audience_reasons, l.focus, l.other_share, l.focus_reasons,
       w.warmth, w.warmth_reasons, w.days_since_contact, w.gave_first, w.history_incomplete, l.template_id,
       l.open_questions, l.closed_questions, l.chunked, l.opt_out, l.commitment_stated, l.offers_first, l.gratitude,
       l.craft_reasons, l.word_count, l.question_count, l.subject_words, l.reading_grade, l.sentiment,
       l.personalization, l.co_recipients, $ruleset, $run, $at
from _tag_warmth w
join _tag_labels l using (message_id)
