-- One row per request sequence and recipient, the input of the report's analysis (the adjusted effects and the time to answer): its send (the clusters of the regression), when it was first sent, whether it was answered, the hours it was watched for an answer (to the answer, else to the window's close or $as_of: censored) and its labels and craft features. Bounced asks are left out. Parameters: $since, $until (NULL: open), $sender (NULL: everyone), $campaign (NULL: every campaign), $as_of.
select message_id as send, recipient, first_sent_at, answered, outcome = 'pending' as pending,
       case when answered then hours_to_answer
            else greatest(0, date_diff('second', first_sent_at,
                                       least(window_closes_at, cast($as_of as timestamptz))) / 3600.0)
       end as hours,
       audience, focus, warmth, ask_kind,
       coalesce(open_questions, 0) > 0 as open_question, chunked, opt_out, commitment_stated, offers_first, gratitude,
       touches, personalization, co_recipients
from period_asks(cast($since as timestamptz), cast($until as timestamptz), cast($sender as varchar), cast($campaign as varchar))
where is_request and outcome <> 'bounce' and first_sent_at is not null
order by send, recipient
