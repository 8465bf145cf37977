import { AuthProvider, useAuth } from "./auth/AuthContext";
import { AccountPage } from "./pages/AccountPage";
import { BatchesPage } from "./pages/BatchesPage";
import { QueuesPage } from "./pages/QueuesPage";
import { SignInPage } from "./pages/SignInPage";
import { TaskDetailPage } from "./pages/TaskDetailPage";
import { TasksPage } from "./pages/TasksPage";
import { BASE, Link, useLocation } from "./lib/router";
import { type Route, parseRoute, pathOf } from "./lib/routes";

export function App() {
  return (
    <AuthProvider>
      <Shell />
    </AuthProvider>
  );
}

const NAV = [
  { page: "tasks", label: "Tasks" },
  { page: "queues", label: "Queues" },
  { page: "batches", label: "Batches" },
  { page: "account", label: "Account" },
] as const;

function Shell() {
  const { session, user, signOut } = useAuth();
  const { pathname } = useLocation();
  if (!session) return <SignInPage />;
  const route = parseRoute(pathname, BASE);
  const section = route.page === "task" ? "tasks" : route.page;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">llmq</span>
        <nav aria-label="Main">
          {NAV.map((item) => (
            <Link key={item.page} href={pathOf({ page: item.page }, BASE)} aria-current={section === item.page ? "page" : undefined}>
              {item.label}
            </Link>
          ))}
        </nav>
        <span className="who">
          <span className="muted" data-testid="signed-in-as">
            {user ? (user.email ?? user.name) : "API key"}
            {user?.is_admin ? " (admin)" : ""}
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "tasks":
      return <TasksPage />;
    case "task":
      return <TaskDetailPage taskId={route.taskId} />;
    case "queues":
      return <QueuesPage />;
    case "batches":
      return <BatchesPage />;
    case "account":
      return <AccountPage />;
    case "not-found":
      return (
        <section>
          <h1>Not found</h1>
          <p>
            <Link href={pathOf({ page: "tasks" }, BASE)}>Go to the tasks</Link>
          </p>
        </section>
      );
  }
}
