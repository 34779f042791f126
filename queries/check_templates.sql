-- The texts the team already sent to several people (template clusters), each by its medoid copy (the one the
-- others were measured against: personalization 0), for `check` to say how close a draft is to one: template,
-- campaign, recipients, first sent, and the medoid's MinHash signature. Only templates long enough to have one.
select t.template_id as template, any_value(t.campaign) as campaign,
       max(t.template_recipients)::int as recipients, min(t.sent_at) as first_sent,
       arg_min(mm.signature, (t.personalization, t.message_id)) as signature
from (select tg.template_id, tg.campaign, tg.sent_at, tg.message_id, tp.template_recipients, tp.personalization
      from tags tg join templates tp using (message_id)
      where tg.template_id is not null) t
join asks a using (message_id)
join message_measures mm using (raw_sha256)
where mm.signature is not null
group by t.template_id
