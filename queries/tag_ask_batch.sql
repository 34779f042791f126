-- One batch of asks (numbers $lo to $hi) with their stored text measures and template cluster, for the label pass.
select a.*, mm.clean, mm.sentences, mm.colours, mm.colour_confidence, mm.request_p, mm.mass_p, mm.word_count, mm.question_count, mm.subject_words, mm.reading_grade, mm.sentiment,
       t.template_recipients, t.template_id, t.personalization
from _tag_asks a
join _tag_ask_nodes n using (message_id)
left join message_measures mm using (raw_sha256)
left join _tag_templates t using (message_id)
where n.node >= $lo and n.node < $hi
