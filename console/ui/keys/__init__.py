"""Action keys shared by a top-level screen and its detail screen."""
