//! The durable step engine: compile, run, journal, compensate, resume, roll back, lock.
