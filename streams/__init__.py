"""Everything that talks to Kafka, Redis or a person, in rooms by role (docs/design.md, "Rooms")."""
