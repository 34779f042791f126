-- Sentence colours and requests from the models fit on real labelled mail (auditor/tag/sentence_model.py), taken
-- once per message with its other measures: per sentence, in the order of `sentences`, the colour (self, other,
-- neutral), the model's probability for it, and the probability that the sentence asks the reader for something.
ALTER TABLE message_measures ADD COLUMN colours VARCHAR[];
ALTER TABLE message_measures ADD COLUMN colour_confidence FLOAT[];
ALTER TABLE message_measures ADD COLUMN request_p FLOAT[];
-- How sure the colour model was of each stored sentence's colour.
ALTER TABLE tag_sentences ADD COLUMN confidence FLOAT;
-- The mass model's probability that the message's text is written for everyone (a newsletter, a notice), whoever
-- it was sent to.
ALTER TABLE message_measures ADD COLUMN mass_p FLOAT;
