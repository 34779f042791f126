-- The template clusters computed in this tag run (the tag stage empties the table first).
insert into templates (message_id, template_recipients, template_id, personalization)
select message_id, template_recipients, template_id, personalization from _tag_templates
