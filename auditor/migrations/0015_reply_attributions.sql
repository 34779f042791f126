-- Derived by `match`: the line that introduces a quote ("On Tuesday, Laurent Pinchart wrote:") of each list post
-- without threading headers from someone the team wrote to. Such a post answers the person it quotes; the match
-- stage reads them from the posts' text (which the ingest defers for list mail) and match_outcomes.sql joins them,
-- so the query also runs by hand (`auditor query match_outcomes`). NULL: the post quotes nobody.
CREATE TABLE reply_attributions (
    message_id  VARCHAR NOT NULL,
    attribution VARCHAR
);
