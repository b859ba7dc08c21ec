/* pthreads: many threads contending on a mutex, a condition variable handshake, joins. */
#include <pthread.h>
#include "../check.h"

#define THREADS 16
#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static long counter;
static int finished;

static void *work(void *arg) {
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_lock(&lock);
    finished++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return arg;
}

int main(void) {
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK("pthread_create", pthread_create(&threads[i], NULL, work, (void *)i) == 0, "failed");
    pthread_mutex_lock(&lock);
    while (finished < THREADS) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    int joined = 0;
    for (long i = 0; i < THREADS; i++) {
        void *ret;
        if (pthread_join(threads[i], &ret) == 0 && ret == (void *)i) joined++;
    }
    CHECK("every thread joined with its value", joined == THREADS, "%d joined", joined);
    CHECK("no increment lost under the mutex", counter == (long)THREADS * ROUNDS, "counter %ld", counter);
    return check_finish();
}
