import { type FormEvent, useState } from "react";
import { useAuth } from "../auth/AuthContext";

type Method = "password" | "key";

/** Sign in with email and password, or with an API key. */
export function SignInPage() {
  const { signInWithPassword, signInWithKey } = useAuth();
  const [method, setMethod] = useState<Method>("password");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      if (method === "password") await signInWithPassword(String(form.get("email") ?? ""), String(form.get("password") ?? ""));
      else await signInWithKey(String(form.get("api_key") ?? "").trim());
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
      setBusy(false);
    }
  };

  return (
    <main className="signin">
      <h1>llmq</h1>
      <p className="muted">Task queue dashboard</p>
      <div className="tabs" role="group" aria-label="Sign-in method">
        <button type="button" aria-pressed={method === "password"} onClick={() => setMethod("password")}>
          Email and password
        </button>
        <button type="button" aria-pressed={method === "key"} onClick={() => setMethod("key")}>
          API key
        </button>
      </div>
      <form onSubmit={submit} aria-label="Sign in">
        {method === "password" ? (
          <>
            <label>
              Email
              <input name="email" type="email" autoComplete="username" required autoFocus />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" required />
            </label>
          </>
        ) : (
          <label>
            API key
            <input name="api_key" type="password" autoComplete="off" required autoFocus placeholder="llmq_…" />
          </label>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
