// The polling baseline: a bare Express route doing the same task lookup with `pg`, no auth, no envelope.
import express from "express";
import { Pool } from "pg";

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
const app = express();
app.get("/tasks/:id", async (req, res) => {
  const { rows } = await pool.query("SELECT * FROM tasks WHERE task_id = $1", [req.params.id]);
  if (rows.length === 0) return void res.status(404).json({ error: "not found" });
  res.json(rows[0]);
});
const server = app.listen(Number(process.env.PORT), "127.0.0.1", () => console.log(`READY ${process.env.PORT}`));
process.on("SIGTERM", () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
