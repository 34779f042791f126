-- The subject replies are matched on: without reply and forward prefixes (subject_base), without the tags a
-- mailing list puts in front ("[grants] "), since the team's own copy of an ask never has the list's tag and the
-- copy the list delivers does; and with folded whitespace made one space, since a long subject comes back folded
-- over two header lines. Prefixes are taken off again after the tags ("[grants] [urgent] Re: ..."). subject_base,
-- a campaign's readable name, keeps its tags.
CREATE OR REPLACE MACRO subject_key(subject) AS
    lower(trim(regexp_replace(
        subject_base(regexp_replace(subject_base(subject), '^\s*(\[[^\]]*\]\s*)+', '')), '\s+', ' ', 'g')));
