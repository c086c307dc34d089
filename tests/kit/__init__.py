"""The test kit: builders of commands, events, flows and pipelines that tests and bench/ share."""
