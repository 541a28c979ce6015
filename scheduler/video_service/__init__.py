"""Video Services: where downloaded videos go."""
