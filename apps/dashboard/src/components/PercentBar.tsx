/** A progress bar with its number, readable by screen readers as a progressbar. */
export function PercentBar({ percent, label }: { percent: number; label?: string }) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  return (
    <div className="percent" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={value} aria-label={label ?? "progress"}>
      <div className="percent-track">
        <div className="percent-fill" style={{ width: `${value}%` }} />
      </div>
      <span className="percent-text">{value}%</span>
    </div>
  );
}
