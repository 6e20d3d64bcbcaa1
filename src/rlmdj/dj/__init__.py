"""The DJ: session (bar clock, mixer, history), drivers, guardrails and the LLM tool layer."""
