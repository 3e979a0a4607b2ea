"""`facelake score`: a trained live/spoof model scores the lake's faces into the `scores` table."""
