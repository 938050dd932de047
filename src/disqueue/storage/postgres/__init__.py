"""The PostgreSQL backend: several nodes on one database are one service. The database
holds every item; statements (`sql`) apply the delivery rules, `node` handles the
deadlines and wake-ups any node may handle, and `batch` combines concurrent requests."""
