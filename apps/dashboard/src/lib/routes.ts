/** The dashboard's pages. Paths are relative to the base the API serves the app under (/dashboard/). */
export type Route =
  | { page: "tasks" }
  | { page: "task"; taskId: string }
  | { page: "queues" }
  | { page: "batches" }
  | { page: "account" }
  | { page: "not-found" };

/** The route of a path such as `/dashboard/tasks/abc` under `base` (`/dashboard/`). */
export function parseRoute(pathname: string, base: string): Route {
  const rest = pathname.startsWith(base) ? pathname.slice(base.length) : pathname.replace(/^\/+/, "");
  const parts = rest.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0 || (parts.length === 1 && parts[0] === "tasks")) return { page: "tasks" };
  if (parts.length === 2 && parts[0] === "tasks") return { page: "task", taskId: parts[1]! };
  if (parts.length === 1 && parts[0] === "queues") return { page: "queues" };
  if (parts.length === 1 && parts[0] === "batches") return { page: "batches" };
  if (parts.length === 1 && parts[0] === "account") return { page: "account" };
  return { page: "not-found" };
}

/** The path of a route under `base`. */
export function pathOf(route: Exclude<Route, { page: "not-found" }>, base: string): string {
  switch (route.page) {
    case "tasks":
      return `${base}tasks`;
    case "task":
      return `${base}tasks/${encodeURIComponent(route.taskId)}`;
    case "queues":
      return `${base}queues`;
    case "batches":
      return `${base}batches`;
    case "account":
      return `${base}account`;
  }
}
