-- The stored text measures of the given messages ($hashes: a list of raw_sha256), for the label pass; the MinHash
-- signatures only when the template clusters are to be computed ($signatures), since they are most of the bytes.
select mm.raw_sha256, mm.clean, mm.sentences, case when $signatures then mm.signature end as signature,
       mm.word_count, mm.question_count, mm.subject_words, mm.reading_grade, mm.sentiment
from message_measures mm
join (select unnest($hashes) as raw_sha256) wanted using (raw_sha256)
