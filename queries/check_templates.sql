-- The texts the team already sent to several people (template clusters), each by its medoid copy (the one the
-- others were measured against: personalization 0), for `check` to say how close a draft is to one: template,
-- campaign, recipients, first sent, and the medoid's MinHash signature. Only templates long enough to have one.
with members as (
    select tp.template_id, tp.message_id, tp.template_recipients, tp.personalization, a.sent_at, a.raw_sha256
    from templates tp join asks a using (message_id)
    where tp.template_id is not null
), medoids as (
    select template_id, max(template_recipients)::int as recipients, min(sent_at) as first_sent,
           arg_min(raw_sha256, (personalization, message_id)) as raw_sha256,
           arg_min(message_id, (personalization, message_id)) as message_id
    from members group by template_id
)
select m.template_id as template,
       (select any_value(campaign) from tags t where t.message_id = m.message_id) as campaign,
       m.recipients, m.first_sent, mm.signature
from medoids m join message_measures mm using (raw_sha256)
where mm.signature is not null
