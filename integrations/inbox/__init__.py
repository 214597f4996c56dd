"""The inbox end to end: the outbox resends, brokers redeliver, consumers apply each once."""
