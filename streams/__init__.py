"""The Faust topology: topics, app, agents. Each agent runs its step of the pipeline and applies the effects."""
