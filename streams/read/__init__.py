"""The read side: the profile document that `portrait profile get`, the HTTP API and the 360°
page all show, built by one reader from the store's keys (no profile logic outside profiles/)."""
