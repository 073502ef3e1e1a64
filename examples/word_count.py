"""Faust's classic: words in sentences, counted per word. `--demo` produces
each of 4 words 1000 times, waits, prints the table (every count is 1000)."""

import sys

import cluster

cluster.init(app="word-count", broker="kafka://127.0.0.1:9092")

sentences = cluster.topic("sentences", value_type=str, partitions=4)
words = cluster.topic("words", value_type=str, partitions=4)
word_counts = cluster.table("word_counts", default=int, help="occurrences of each word")


@cluster.agent(sentences)
async def split(stream):
    async for sentence in stream:
        for word in sentence.split():
            await words.send(key=word, value=word)


@cluster.agent(words)
async def count(stream):
    async for word in stream:
        word_counts[word] += 1


def demo() -> None:
    cluster.start()
    try:
        sentences.send_many((None, "the quick brown fox") for _ in range(1000))
        cluster.wait_idle(timeout=120)
        print(word_counts.as_ansitable(title="word counts", sort=True))
    finally:
        cluster.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--demo"]:
        demo()
    else:
        cluster.run()
