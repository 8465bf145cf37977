import { newTaskId } from "@llmq/core";
import { createLogger } from "@llmq/config";
import { type Database, type TaskRecord, TaskRepository, UserRepository, createDatabase } from "@llmq/db";
import { createTestDatabase, eventually } from "@llmq/testkit";
import { TaskFeed } from "../src/feed/task-feed";

// The feed over a real database; the repository is wrapped only to count the queries it is asked for.
let db: Database;
let drop: () => Promise<void>;
let tasks: TaskRepository;
let queries: string[][];
const logger = createLogger({ name: "test", level: "silent" });

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDatabase({ databaseUrl: database.url });
  const real = new TaskRepository(db);
  queries = [];
  tasks = Object.assign(Object.create(real) as TaskRepository, {
    findByIds: (ids: readonly string[]) => {
      queries.push([...ids]);
      return real.findByIds(ids);
    },
  });
});
afterAll(async () => {
  await db.$disconnect();
  await drop();
});

async function tasksOf(ownerId: string, count: number): Promise<TaskRecord[]> {
  const created = [];
  for (let i = 0; i < count; i++) {
    created.push(await new TaskRepository(db).create({ id: newTaskId(), ownerId, model: "m", queueName: "llm_m_queue", messages: [{ role: "user", content: `t${i}` }], configs: { max_tokens: 4 } }));
  }
  return created;
}

describe("TaskFeed", () => {
  it("reads a tick's changes with one query whatever the number of clients, and sends each row only where it may go", async () => {
    const users = new UserRepository(db);
    const [ann, bob, carol] = await Promise.all([users.create("ann"), users.create("bob"), users.create("carol")]);
    const feed = new TaskFeed({ tasks, logger, coalesceMs: 50 });
    const received = new Map<string, string[]>();
    const listen = (name: string, viewer: { userId: string; isAdmin: boolean }) => {
      received.set(name, []);
      return feed.register(viewer, (json) => received.get(name)!.push((JSON.parse(json) as { task_id: string }).task_id));
    };
    listen("ann-1", { userId: ann.id, isAdmin: false });
    listen("ann-2", { userId: ann.id, isAdmin: false });
    listen("bob", { userId: bob.id, isAdmin: false });
    listen("admin", { userId: carol.id, isAdmin: true });

    const annTasks = await tasksOf(ann.id, 30);
    const bobTasks = await tasksOf(bob.id, 5);
    const carolTasks = await tasksOf(carol.id, 5);
    queries.length = 0;
    // Announced several times each, as a running task is: coalesced into one row per task per tick.
    for (let round = 0; round < 3; round++) {
      feed.accept([...annTasks, ...bobTasks, ...carolTasks].map((task) => ({ taskId: task.id, ownerId: task.ownerId })));
    }
    await eventually(async () => (received.get("admin")!.length === 40 ? true : undefined), { what: "the admin to get every row" });

    expect(queries).toHaveLength(1);
    expect(new Set(queries[0])).toEqual(new Set([...annTasks, ...bobTasks, ...carolTasks].map((task) => task.id)));
    const ids = (list: TaskRecord[]) => new Set(list.map((task) => task.id));
    expect(new Set(received.get("ann-1"))).toEqual(ids(annTasks));
    expect(received.get("ann-1")).toHaveLength(30);
    expect(new Set(received.get("ann-2"))).toEqual(ids(annTasks));
    expect(new Set(received.get("bob"))).toEqual(ids(bobTasks));
    feed.close();
  });

  it("reads nothing for changes no client of this process may see", async () => {
    const users = new UserRepository(db);
    const [ann, bob] = await Promise.all([users.create("ann"), users.create("bob")]);
    const feed = new TaskFeed({ tasks, logger, coalesceMs: 20 });
    const annRows: string[] = [];
    const stop = feed.register({ userId: ann.id, isAdmin: false }, (json) => annRows.push(json));
    const [bobTask] = await tasksOf(bob.id, 1);
    const [annTask] = await tasksOf(ann.id, 1);
    queries.length = 0;
    feed.accept([{ taskId: bobTask!.id, ownerId: bob.id }]);
    feed.accept([{ taskId: annTask!.id, ownerId: ann.id }]);
    await eventually(async () => (annRows.length === 1 ? true : undefined));
    expect(queries).toEqual([[annTask!.id]]);

    // Ann left: her next change is dropped at once; Bob's, once he listens, is read alone.
    stop();
    expect(feed.clientCount()).toBe(0);
    feed.accept([{ taskId: annTask!.id, ownerId: ann.id }]);
    const bobRows: string[] = [];
    feed.register({ userId: bob.id, isAdmin: false }, (json) => bobRows.push(json));
    feed.accept([{ taskId: bobTask!.id, ownerId: bob.id }]);
    await eventually(async () => (bobRows.length === 1 ? true : undefined));
    expect(queries).toEqual([[annTask!.id], [bobTask!.id]]);
    expect(annRows).toHaveLength(1);
    feed.close();
  });
});
