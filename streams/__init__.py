"""The Faust topology: topics, app, agents. Each agent decodes, calls the core, sends."""
