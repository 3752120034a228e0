-- The cluster profile's nodes share their own database (the single node
-- keeps `replywatch`): one event store per deployment.
CREATE DATABASE replywatch_cluster OWNER replywatch;
