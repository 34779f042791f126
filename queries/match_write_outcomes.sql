-- The outcomes of this match run (_match_outcomes), each human answer with what it says (_kinds), stamped with the rules and the run (the match stage empties the table first).
insert into outcomes by name
select o.*, k.answer_kind, k.answer_phrase, $ruleset as ruleset_digest, $run as run_id, $at as matched_at
from _match_outcomes o
left join _kinds k on o.outcome = 'human' and k.answer_message_id = o.answer_message_id
