-- Name each ask's campaign, run by `tag` after it writes the tags: a template cluster takes the subject of its
-- earliest message; any other ask its own subject without Re:/Fwd: prefixes, so follow-ups join their first send.
update tags set campaign = coalesce(nullif(named.name, ''), '(no subject)')
from (
    select message_id, recipient,
           case when template_id is null then trim(subject_base(subject))
                else arg_min(trim(subject_base(subject)), (coalesce(sent_at, 'infinity'::timestamptz), message_id))
                     over (partition by template_id)
           end as name
    from tags
) named
where tags.message_id = named.message_id and tags.recipient = named.recipient;
