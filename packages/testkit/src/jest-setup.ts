// Shared jest setup; database/redis helpers live in other testkit modules.
