-- The stored text measures of the given messages ($hashes: a list of raw_sha256), for the label pass.
select mm.raw_sha256, mm.clean, mm.sentences, mm.signature, mm.word_count, mm.question_count, mm.subject_words,
       mm.reading_grade, mm.sentiment
from message_measures mm
join (select unnest($hashes) as raw_sha256) wanted using (raw_sha256)
