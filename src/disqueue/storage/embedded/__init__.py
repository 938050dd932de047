"""The embedded backends: the delivery rules over in-memory state (`rules`, `state`,
`index`), with a persistence layer (`persistence`) that keeps values in memory
(`memory`) or in an SQLite file (`sqlite`, `sqlite_writer`)."""
