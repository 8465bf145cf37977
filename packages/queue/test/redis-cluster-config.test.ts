import { parseClusterNodes, redisTargetOf } from "../src";

describe("REDIS_CLUSTER_NODES", () => {
  it("reads seeds as host:port, or in the URL form with credentials and TLS taken from the first that names them", () => {
    expect(parseClusterNodes("10.0.0.1:7000, 10.0.0.2:7001,")).toEqual({ cluster: [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7001 }] });
    expect(parseClusterNodes("redis-a:7000,rediss://app:s%40cret@redis-b:7001,redis://other:pw@redis-c:7002")).toEqual({
      cluster: [
        { host: "redis-a", port: 7000 },
        { host: "redis-b", port: 7001 },
        { host: "redis-c", port: 7002 },
      ],
      username: "app",
      password: "s@cret",
      tls: true,
    });
  });

  it("refuses an entry that is not host:port, naming it", () => {
    for (const bad of ["", " , ", "redis-a", "redis-a:0", "redis-a:70000", "http://redis-a:7000", "redis://redis-a:7000/2"]) {
      expect(() => parseClusterNodes(bad)).toThrow(/REDIS_CLUSTER_NODES/);
    }
    expect(() => parseClusterNodes("redis-a:7000,redis-b")).toThrow("REDIS_CLUSTER_NODES: 'redis-b' is not host:port");
  });

  it("uses the cluster when it is named, REDIS_URL otherwise", () => {
    const cluster = parseClusterNodes("127.0.0.1:7000");
    expect(redisTargetOf({ REDIS_URL: "redis://127.0.0.1:6379", REDIS_CLUSTER_NODES: cluster })).toBe(cluster);
    expect(redisTargetOf({ REDIS_URL: "redis://127.0.0.1:6379" })).toEqual({ url: "redis://127.0.0.1:6379" });
  });
});
