"""Business outcomes a customer posts (a policy renewed, a transfer made) and audiences (the people
sent a video), stored keyed like events' viewer ids so the reports can join them to sessions."""
