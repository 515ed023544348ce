/**
 * The classic article's example, unchanged but for the import: the primary holds the data (`Manager`),
 * worker 1 writes `a`, worker 2 (forked a second later) reads it.
 *
 *   npm run build && node --import tsx examples/classic.ts
 *
 * Like the article it runs until stopped (Ctrl+C). With SHAREDKV_EXAMPLE_EXIT=1 each worker closes its
 * `User` once done and leaves, and the primary exits when both have gone.
 */
import cluster from 'node:cluster';
import { Manager, User } from 'sharedkv/classic';

const exitWhenDone = process.env.SHAREDKV_EXAMPLE_EXIT === '1';

if (cluster.isPrimary) {
  // Initialise the Manager: this process now holds the shared memory.
  const manager = new Manager();

  // Fork the first worker.
  cluster.fork();

  // Fork the second worker one second later.
  setTimeout(() => cluster.fork(), 1000);

  if (exitWhenDone) {
    let exited = 0;
    cluster.on('exit', () => {
      if (++exited === 2) manager.close();
    });
  }
} else {
  // Initialise a User: usable at once, calls wait for the connection.
  const user = new User();
  const done = () => {
    if (exitWhenDone) user.close(() => cluster.worker?.disconnect());
  };

  if (cluster.worker?.id === 1) {
    // The first worker writes an array to shared memory under `a`.
    user.set('a', [0, 1, 2, 3]);
    done();
  }

  if (cluster.worker?.id === 2) {
    // The second worker reads `a` back.
    user.get('a', (data) => {
      console.log(data); // => [ 0, 1, 2, 3 ]
      done();
    });
  }
}
