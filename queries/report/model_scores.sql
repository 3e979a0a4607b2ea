-- Frame scores of one model on one part, for the report's ROC/DET curves and its operating figures.
-- Parameters:
--   $train_id = NULL: the model (scores.train_id)
--   $part = 'test': the protocol part: train, validation, test or unseen
SELECT video_id, frame_index, label, attack_type, medium, score, threshold
FROM scores
WHERE train_id = $train_id AND part = $part
ORDER BY video_id, frame_index;
