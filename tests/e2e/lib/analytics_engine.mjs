// A stand-in for a Workers Analytics Engine dataset binding (`writeDataPoint`), which workerd
// runs only with --experimental and a capnp event sink: each data point is written to the
// console as `analytics-engine <JSON>`, for the test to read. Loaded as a workerd extension
// module behind a `wrapped` binding, as a platform binding would be.

export default function analyticsEngine() {
  return {
    writeDataPoint(point) {
      console.log(`analytics-engine ${JSON.stringify(point)}`);
    },
  };
}
