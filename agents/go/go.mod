module handoff/agents/go

go 1.19
