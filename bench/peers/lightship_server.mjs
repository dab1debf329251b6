// Lightship, the Node peer of lastcall's probe endpoints (bench/run.sh --only tail): its readiness
// endpoint on PORT (argv[2]), ready at once, shutdown on SIGTERM with no delay.
import { createLightship } from 'lightship';

const port = Number(process.argv[2] || 9000);
const lightship = await createLightship({
  port,
  detectKubernetes: false,
  shutdownDelay: 0,
  gracefulShutdownTimeout: 5000,
  shutdownHandlerTimeout: 5000,
  terminate: () => process.exit(0),
});
lightship.signalReady();
console.log(`lightship ready on ${port}`);
