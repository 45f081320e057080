"""An independent batch computation of the profile tags, to check the streaming model against."""
