/** The conformance suite on the thread and socket topologies (factories in thread-factory.ts). */
import { runConformance } from '../conformance/suite.js';
import { socketStore, threadStore } from './thread-factory.js';

runConformance('conformance: worker thread (MessagePort)', threadStore);
runConformance('conformance: socket daemon client', socketStore);
