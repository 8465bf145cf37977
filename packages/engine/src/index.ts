export { TaskEngine, type EngineDeps } from "./engine";
export { EngineBus, type EngineEvents, type EngineEventName, type TaskRef, type TaskUsage } from "./bus";
export { TaskTransitions, type Attempt, type StartResult, type EnqueueableTask, refOf, tenantOf, queuedTaskOf } from "./tasks";
export { BatchTransitions, type BatchCancel } from "./batches";
export { EventWriter } from "./event-writer";
export { registerListeners, type ListenerDeps } from "./listeners";
export { onTaskEnded, type EndedStatus } from "./listeners/task-ends";
