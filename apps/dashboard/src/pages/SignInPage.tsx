import { type FormEvent, useEffect, useRef, useState } from "react";
import { useAuth } from "../auth/AuthContext";

type Method = "password" | "key";

/** Where the method of the last sign-in is kept: the next visit opens on it (an API key the first time, as start.sh hands one out). */
const LAST_METHOD_KEY = "llmq.signInMethod";

function lastMethod(): Method {
  try {
    return localStorage.getItem(LAST_METHOD_KEY) === "password" ? "password" : "key";
  } catch {
    return "key"; // storage refused (privacy settings): the default
  }
}

function rememberMethod(method: Method): void {
  try {
    localStorage.setItem(LAST_METHOD_KEY, method);
  } catch {
    // Not remembered: the next visit opens on the default.
  }
}

/** Sign in with an API key, or with email and password: opens on the method last used. */
export function SignInPage() {
  const { signInWithPassword, signInWithKey } = useAuth();
  const [method, setMethod] = useState<Method>(lastMethod);
  // Choosing a method (even the one shown) puts the cursor in its first field.
  const [chosen, setChosen] = useState(0);
  const formRef = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (chosen > 0) formRef.current?.querySelector("input")?.focus();
  }, [chosen]);
  const choose = (next: Method) => {
    setMethod(next);
    setChosen((n) => n + 1);
  };
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
      rememberMethod(method);
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
        <button type="button" aria-pressed={method === "key"} onClick={() => choose("key")}>
          API key
        </button>
        <button type="button" aria-pressed={method === "password"} onClick={() => choose("password")}>
          Email and password
        </button>
      </div>
      <form ref={formRef} onSubmit={submit} aria-label="Sign in">
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
