-- The template clusters of the last tag run (message_id, template_id, template_recipients, personalization), which
-- a re-tag reuses when the asks and the template rules have not changed.
select message_id, template_recipients, template_id, personalization from templates
